"""The ``serial`` kind: residents' wearables and in-home radars on a serial port."""
