# Pattern of: https://github.com/jupyterhub/batchspawner (README.md: `import batchspawner`
# "needed to register batchspawner interface", and the class by its batchspawner name)
# A predecessor file exactly as it was, before any package name is changed: migrate
# reads it (batchspawner's names are ours), render asks for the new name first.
# Our own config of that shape; written for the tests, not copied.
c = get_config()  # noqa: F821
import batchspawner  # noqa: E402,F401

c.JupyterHub.spawner_class = "batchspawner.SlurmSpawner"
c.SlurmSpawner.ssh_host = "login.cluster.example.edu"
c.BatchSpawnerBase.req_partition = "short"
c.BatchSpawnerBase.req_runtime = "1:00:00"
c.BatchSpawnerBase.req_nprocs = "2"
c.BatchSpawnerBase.req_memory = "4G"
c.SlurmSpawner.req_qos = "interactive"
c.SlurmSpawner.req_options = "--constraint=avx2"
