# Pattern of: https://github.com/jupyterhub/batchspawner/issues/224 (a site's jupyterhub_config.py)
# ProfilesSpawner with LSF children that differ in cores, queue, walltime and memory,
# a local profile, req_host on the base section and a state_exechost_exp rewrite.
# Our own config of that shape; written for the tests, not copied.
c = get_config()  # noqa: F821
import batchspawner_x  # noqa: E402,F401

c.JupyterHub.spawner_class = "wrapspawner.ProfilesSpawner"
c.JupyterHub.bind_url = "https://:443"
c.Spawner.http_timeout = 120
c.BatchSpawnerBase.req_host = "lsf.example.edu"
c.BatchSpawnerBase.req_runtime = "12:00"
c.LsfSpawner.ssh_host = "lsf-login.example.edu"
c.LsfSpawner.state_exechost_exp = r"\1.nodes.example.edu"
c.ProfilesSpawner.profiles = [
    ("Local server", "local", "jupyterhub.spawner.LocalProcessSpawner", {"ip": "0.0.0.0"}),
    (
        "2 cores, 4 GB, 8 hours",
        "c2m4h8",
        "batchspawner_x.LsfSpawner",
        dict(req_nprocs="2", req_queue="normal", req_runtime="8:00", req_memory="4096"),
    ),
    (
        "8 cores, 32 GB, 2 hours",
        "c8m32h2",
        "batchspawner_x.LsfSpawner",
        dict(req_nprocs="8", req_queue="large", req_runtime="2:00", req_memory="32768"),
    ),
]
