# Pattern of: https://github.com/vub-hpc/notebook-platform (jupyterhub/container/.config/jupyterhub_config.py)
# A hub in a container that runs every Slurm command on the login node through
# `ssh HOST VAR=... sudo -u {username}` (built up with +=), escaped command templates,
# req_srun emptied, a prologue/epilogue pair and a state_exechost_exp rewrite.
# Our own config of that shape; written for the tests, not copied.
c = get_config()  # noqa: F821

c.JupyterHub.spawner_class = "batchspawner_x.SlurmSpawner"
c.JupyterHub.template_paths = ["/srv/hub/templates"]
c.SlurmSpawner.exec_prefix = "ssh login.int.example.be "
c.SlurmSpawner.exec_prefix += "SLURM_CLUSTERS=alpha SLURM_CONF=/etc/slurm/slurm.conf "
c.SlurmSpawner.exec_prefix += "sudo -u {username} "
c.SlurmSpawner.batch_cancel_cmd = "scancel {{job_id}} "
c.SlurmSpawner.batch_query_cmd = r"squeue -h -j {{job_id}} -o \'%T %B\' "
c.SlurmSpawner.req_srun = ""
c.SlurmSpawner.state_exechost_exp = r"\1.alpha.int.example.be"
c.BatchSpawnerBase.req_prologue = "exec env -i bash --norc <<EOF"
c.BatchSpawnerBase.req_epilogue = "EOF"
