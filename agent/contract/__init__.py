"""The platform contract as code: JSON Schemas and the AsyncAPI document (issue 13 item 1).

Generated from the models registered in agent/event_types.py (event data) and
:mod:`agent.contract.schemas` (the other channels' payloads); ``edge-agent contract
export DIR`` writes them, docs/contract/ holds the committed copy. Wiring side: it imports
the drivers' models, so no driver may import it (pyproject.toml).
"""
