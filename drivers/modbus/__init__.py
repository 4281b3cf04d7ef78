"""The ``modbus`` driver kind: elevator controllers and monitoring boxes, read-only.

Pure modules (profile, planner, decode, elevator_state, fault_rules, scheduler) never
import pymodbus; only ``client`` and the ``simulator`` package do (an import-linter
contract keeps it so).
"""
