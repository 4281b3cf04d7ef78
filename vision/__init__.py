"""Camera capture, ONNX detection, zones and the parking dwell engine."""
