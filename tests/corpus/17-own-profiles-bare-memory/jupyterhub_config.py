# Pattern of: this repository before the units were unified (commit abc998b,
# batchspawner_x/profiles.py), where a bare number of memory in a profile meant GiB.
# Our own older configuration: profiles with "memory": 4 and a memory field bounded
# by bare numbers; batchspawner_x now refuses those, and migrate gives them their unit.
c = get_config()  # noqa: F821

c.JupyterHub.spawner_class = "batchspawner_x.SlurmSpawner"
c.SlurmSpawner.ssh_host = "login.cluster.example.edu"
c.SlurmSpawner.profiles = [
    {"name": "small", "display_name": "Small", "cpus": 1, "memory": 4, "walltime": "02:00:00"},
    {
        "name": "large",
        "display_name": "Large",
        "cpus": 8,
        "memory": "32",
        "fields": {"memory": {"min": 8, "max": 64}},
    },
]
