# Pattern of: https://github.com/jupyterhub/batchspawner/pull/2 (the example in its description)
# Grid Engine children that differ only in a raw option (-l gpu=N) given with req_options,
# plus a CPU profile and a local one. Our own config of that shape; written for the tests,
# not copied.
c = get_config()  # noqa: F821

c.JupyterHub.spawner_class = "wrapspawner.ProfilesSpawner"
c.GridengineSpawner.ssh_host = "sge-head.example.net"
c.ProfilesSpawner.profiles = [
    ("SGE job, 1 GPU", "sge_1gpu", "batchspawner_x.GridengineSpawner", dict(req_options="-l gpu=1")),
    ("SGE job, 2 GPU", "sge_2gpu", "batchspawner_x.GridengineSpawner", dict(req_options="-l gpu=2")),
    ("SGE job, CPU", "sge_cpu", "batchspawner_x.GridengineSpawner", {}),
    ("Local server", "local", "jupyterhub.spawner.LocalProcessSpawner", {}),
]
