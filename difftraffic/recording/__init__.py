"""Recorded episodes: the ``.npz`` episode format (``episode.Episode``) and the recorder with the gradient-flow map
(``recorder.record_episode``), for the viewer and the exporter."""
