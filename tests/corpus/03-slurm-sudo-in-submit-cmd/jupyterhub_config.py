# Pattern of: https://github.com/ComputeCanada/puppet-jupyterhub (files/jupyterhub_config.py)
# No exec_prefix; sudo written into the submit and cancel commands instead; PAM settings,
# named servers, admin access. Our own config of that shape (the site set these on a
# subclass; here they are settings); written for the tests, not copied.
c = get_config()  # noqa: F821

c.JupyterHub.spawner_class = "batchspawner_x.SlurmSpawner"
c.JupyterHub.hub_ip = "0.0.0.0"
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.allow_named_servers = True
c.JupyterHub.admin_access = True
c.PAMAuthenticator.open_sessions = False
c.PAMAuthenticator.service = "jupyterhub-login"
c.Authenticator.admin_users = {"hubadmin"}

c.SlurmSpawner.ssh_host = "login1.cluster.example.ca"
c.SlurmSpawner.exec_prefix = ""
c.SlurmSpawner.batch_submit_cmd = "sudo -E -u {username} sbatch --parsable"
c.SlurmSpawner.batch_cancel_cmd = "sudo -u {username} scancel {job_id}"
c.SlurmSpawner.req_runtime = "1:00:00"
c.SlurmSpawner.req_nprocs = "2"
c.SlurmSpawner.req_memory = "2000M"
