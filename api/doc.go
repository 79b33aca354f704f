// Package api holds drover's wire types, the stable error codes, the gin HTTP
// server that serves them over the Backend interface, JWT authentication, and a
// typed client. It imports nothing from master or nodeagent.
package api
