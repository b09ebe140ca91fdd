# Pattern of: https://github.com/jupyterhub/batchspawner/issues/46 (a hub on a VM that reaches the
# cluster's login node over ssh, as in the comet setup discussed there)
# exec_prefix runs ssh with a per-user key, the user's login and the login node from
# req_host; host key checking relaxed in the options. Our own config of that shape;
# written for the tests, not copied.
c = get_config()  # noqa: F821

c.JupyterHub.spawner_class = "batchspawner_x.SlurmSpawner"
c.JupyterHub.hub_connect_ip = "hub.example.org"
c.SlurmSpawner.exec_prefix = (
    "ssh -o StrictHostKeyChecking=no -o BatchMode=yes -i /srv/keys/{username}.key -l {username} {host}"
)
c.SlurmSpawner.req_host = "login.super.example.org"
c.SlurmSpawner.req_partition = "compute"
c.SlurmSpawner.req_account = "gateway"
c.SlurmSpawner.req_runtime = "02:00:00"
c.SlurmSpawner.req_memory = "8G"
