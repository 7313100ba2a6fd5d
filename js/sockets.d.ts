// Types of paf/sockets (workers only): connectSocket, as the worker entry exports it.
export { connectSocket } from "./index.js";
