"""Islands: the boundaries agents run in (shared/DESIGN.md decision 8, docs/islands.md).

- :mod:`atoll.islands.base`: the Island protocol, IslandInfo, start_session;
- :mod:`atoll.islands.registry`: ``make_island(spec)``;
- :mod:`atoll.islands.container`, :mod:`atoll.islands.bwrap`, :mod:`atoll.islands.user`:
  the kinds; :mod:`atoll.islands.engine`: docker/podman calling conventions;
- :mod:`atoll.islands.image`, :mod:`atoll.islands.bootstrap`: the island image;
- :mod:`atoll.islands.grants`, :mod:`atoll.islands.copyin`: what reaches an island;
- :mod:`atoll.islands.load`: container pid -> host pid for load figures;
- :mod:`atoll.islands.purge`: destroying an island safely.
"""
