"""The agent API's services: what an agent of one agency may see and do.

Nothing here imports Chalice; chalicelib/channels/agent_api.py is the HTTP side.
"""
