// Types of paf/sockets (workers only): connectSocket, as the worker entry
// exports it. workerd rejects connect() with one message for a port that
// refused and a name that did not resolve, and a worker has no DNS API to
// look the name up first: a name that could not be reached is ENOTFOUND
// (its message says it may be a refusal), an IP address ECONNREFUSED.
export { connectSocket } from "./index.js";
