"""The live channel per pass: what happens to a pass (installed in a wallet, updated,
redeemed, its status changed) pushed as it happens to the browsers watching it, over a
WebSocket served by workers/live_server.py and fed by Redis pub/sub (docs/api.md#live-channel).
"""
