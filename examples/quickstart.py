"""Quickstart: a synthetic station -> cube -> shipped U-net -> catalogue, in ten lines."""

import xspecseg as xs

wave = xs.synth.ground_station(start="2013-01-20", days=2, seed=3)  # lazy, 100 Hz, pT
xs.write_cube(xs.build_cube(wave, xs.CubeConfig.preset("iar")), "quick.zarr", progress=False)
cube = xs.open_cube("quick.zarr")
prob = xs.predict(cube.psd, "iar-default")  # takes the H+D sum it was trained on
cat = xs.extract_events(prob, psd=cube.psd)
xs.write_catalogue(cat, "quick_events.nc")
print(cat[["start_time", "f_min", "f_max", "delta_f"]].to_dataframe())
