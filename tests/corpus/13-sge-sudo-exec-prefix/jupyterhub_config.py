# Pattern of: https://github.com/jupyterhub/batchspawner/issues/128 (the site's configuration)
# Grid Engine on the hub's host with exec_prefix = "sudo -E -l -u {username}" on the
# base section. Our own config of that shape; written for the tests, not copied.
c = get_config()  # noqa: F821

c.JupyterHub.spawner_class = "batchspawner_x.GridengineSpawner"
c.BatchSpawnerBase.exec_prefix = "sudo -E -l -u {username}"
c.BatchSpawnerBase.req_queue = "all.q"
