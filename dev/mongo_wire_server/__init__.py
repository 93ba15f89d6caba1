"""Dev-only MongoDB wire-protocol server for local runs and tests (never for production).

No mongod can be installed on the dev and CI machines, so this speaks the MongoDB wire protocol
over TCP and application code uses plain pymongo against it, exactly as against a real server.
With MONGODB_URI pointing at a real MongoDB it is simply not started.

Why the protocol layer is our own rather than `mockupdb`: mockupdb is built for scripted test
expectations (a request queue, responders running under one server-wide lock, a polling accept
loop, untyped API). Framing OP_MSG (body and document-sequence sections) and the legacy
OP_QUERY/OP_REPLY handshake on top of `bson` is ~150 lines and leaves threading in our hands.
mongomock supplies the query language: matching, projection, sorting, update operators and
aggregation. Storage and indexing are our own, because mongomock scans every document.

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
