# Pattern of: https://github.com/jupyterhub/batchspawner/issues/10 (the site's settings in the description)
# Grid Engine with the queue from req_queue and a batch_script that joins the output
# streams, exports {keepvars} and passes {options}. Our own config of that shape;
# written for the tests, not copied.
c = get_config()  # noqa: F821

c.JupyterHub.spawner_class = "batchspawner_x.GridengineSpawner"
c.GridengineSpawner.ssh_host = "grid.example.com"
c.BatchSpawnerBase.req_queue = "notebook.q"
c.BatchSpawnerBase.req_options = "-l h_vmem=4G"
c.GridengineSpawner.batch_script = """#!/bin/bash
#$ -q {queue}
#$ -j yes
#$ -N notebook
#$ -v {keepvars}
#$ {options}
{cmd}
"""
