# Pattern of: https://github.com/AaltoSciComp/triton-jupyterhub (jupyterhub_config.py)
# wrapspawner's ProfilesSpawner with Slurm children whose settings are one shared dict
# merged with each profile's own; memory as a bare number of MB, walltime as days-hours,
# a site-specific key that is not a setting. Our own config of that shape (package name
# changed to batchspawner_x); written for the tests, not copied.
c = get_config()  # noqa: F821

c.JupyterHub.spawner_class = "wrapspawner.ProfilesSpawner"
c.JupyterHub.hub_ip = "10.1.2.3"
c.Spawner.http_timeout = 120
c.Spawner.poll_interval = 300
c.SlurmSpawner.ssh_host = "login.cluster.example.edu"

common = dict(
    req_partition="interactive",
    req_options="",
    req_workdir="/scratch/work",
    cmd=["/opt/hub/conda/bin/jupyterhub-singleuser"],
)
c.ProfilesSpawner.profiles = [
    (
        "Slurm 8h 3G",
        "slurm1",
        "batchspawner_x.SlurmSpawner",
        {**common, **dict(req_partition="nb-long", req_memory="3100", req_runtime="0-8")},
    ),
    (
        "Slurm 8h 6G",
        "slurm2",
        "batchspawner_x.SlurmSpawner",
        {**common, **dict(req_partition="nb-long", req_memory="6100", req_runtime="0-8")},
    ),
    (
        "Slurm 3h 40G, idle 45 min",
        "slurm3",
        "batchspawner_x.SlurmSpawner",
        {
            **common,
            **dict(req_partition="nb-short", req_memory="40100", req_runtime="0-3", req_idle_cutoff=45 * 60),
        },
    ),
]
