# Pattern of: https://github.com/jupyterhub/batchspawner/issues/125 (the submitted description in its log)
# HTCondor on the hub's own host, commands run through `sudo -i -u {username}`, memory
# in "gb" and one core. Our own config of that shape; written for the tests, not copied.
c = get_config()  # noqa: F821

c.JupyterHub.spawner_class = "batchspawner_x.CondorSpawner"
c.CondorSpawner.exec_prefix = "sudo -i -u {username}"
c.CondorSpawner.req_memory = "4gb"
c.CondorSpawner.req_nprocs = "1"
