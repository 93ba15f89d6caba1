"""Dev-only MongoDB wire-protocol server for local runs and tests (never for production).

No mongod can be installed on the dev and CI machines, so this speaks the MongoDB wire protocol
over TCP and application code uses plain pymongo against it, exactly as against a real server.
With MONGODB_URI pointing at a real MongoDB it is simply not started.

The protocol layer is our own (not `mockupdb`), mongomock supplies the query language, and
storage and indexing are our own; why, with `bench/mongo_wire_bench.py` figures, is in
docs/decisions/dev-mongodb.md.

Modules, one job each:
- `wire`: message framing; `server`: TCP server, one thread per connection, `MongoWireServer`.
- `dispatch`: command routing and the storage lock; `admin_commands`, `catalog_commands`,
  `crud_commands`: command handlers with mongod's reply shapes; `context`: handler arguments.
- `engine`: query and write execution; `planner`: index selection; `updates`: update statements;
  `cursors`: getMore batches; `storage`: collections, hash indexes and unique constraints;
  `keys`: canonical value keys; `mongomock_ops`: the adapter to mongomock; `errors`: error shapes.

Run it with ``python -m dev.mongo_wire_server --host 127.0.0.1 --port 27017``.
"""

from .server import MongoWireServer

__all__ = ["MongoWireServer"]
