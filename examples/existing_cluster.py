"""Run the cube and prediction stages on a Dask cluster you already have.

Start one (or use dask-jobqueue on SLURM/PBS, see the docs' cluster page), then:

    python examples/existing_cluster.py tcp://scheduler-host:8786

Without an address, a throw-away LocalCluster shows the same steps. The command-line
equivalent is ``xspecseg cube ... --scheduler ADDRESS`` and
``xspecseg predict ... --scheduler ADDRESS``.
"""

import sys

from distributed import Client

import xspecseg as xs
from xspecseg.cluster import local_cluster


def main() -> None:
    address = sys.argv[1] if len(sys.argv) > 1 else None
    cluster = None if address else local_cluster(2)
    with Client(address or cluster) as client:
        print(f"running on {client.dashboard_link or client.scheduler.address}")
        wave = xs.synth.ground_station(start="2013-01-20", days=3, seed=2)  # one task a day
        xs.write_cube(xs.build_cube(wave), "cluster_cube.zarr", client=client)  # resumable
        psd = xs.open_cube("cluster_cube.zarr").psd  # the model takes the H+D sum from it
        prob = xs.predict(psd, "iar-default")  # the model reaches each worker once
        xs.write_probability(prob, "cluster_prob.zarr", client=client)
        print(xs.extract_events(xs.open_probability("cluster_prob.zarr"), psd=psd))
    if cluster is not None:
        cluster.close()


if __name__ == "__main__":  # worker processes re-import this file
    main()
