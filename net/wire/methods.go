package wire

// Method names. Requests expect exactly one reply; notifications get none.
const (
	// MethodHello is the first request of every connection (client → dispatcher).
	MethodHello = "hello"
	// MethodHeartbeat is a notification either side sends when it has been quiet.
	MethodHeartbeat = "heartbeat"

	// MethodJobAssign offers a job to a runner (dispatcher → runner request).
	MethodJobAssign = "job.assign"
	// MethodJobCancel asks a runner to stop a job (dispatcher → runner request).
	MethodJobCancel = "job.cancel"
	// MethodJobOutput carries one chunk of a job's output (runner → dispatcher request).
	MethodJobOutput = "job.output"
	// MethodJobResult reports how a job ended (runner → dispatcher request).
	MethodJobResult = "job.result"
	// MethodRunnerDrain tells the dispatcher the runner takes no more work (runner →
	// dispatcher notification).
	MethodRunnerDrain = "runner.drain"

	// MethodCommitSubmit asks the dispatcher to test a commit (observer → dispatcher request).
	MethodCommitSubmit = "commit.submit"
)

// Roles a client can take in its hello.
const (
	RoleRunner   = "runner"
	RoleObserver = "observer"
	RoleConsole  = "console"
)

// Error codes. The first five are JSON-RPC 2.0's own; the rest are Eventide's, in the
// range JSON-RPC reserves for implementations.
const (
	CodeParseError     = -32700 // the frame is not JSON, or is over the size limit
	CodeInvalidRequest = -32600 // the JSON is not a valid frame
	CodeMethodNotFound = -32601 // unknown method, or one this role may not call
	CodeInvalidParams  = -32602 // the payload failed validation
	CodeInternal       = -32603 // the server failed; the request may be retried

	CodeUnauthorized       = -32000 // missing or wrong token
	CodeVersionUnsupported = -32001 // protocol_version outside what the server speaks
	CodeHandshake          = -32002 // no hello, a second hello, or hello too late
	CodeStaleAttempt       = -32003 // the job's attempt is no longer current (fencing)
	CodeUnknownJob         = -32004 // no such job
	CodeRefused            = -32005 // the runner will not take the job (busy or draining)
	CodeShuttingDown       = -32006 // the server is stopping; reconnect later
	// CodeCrowded (since version 5) drops a connection that had not said hello
	// when too many from its address, or in all, were waiting to: the oldest
	// goes. Retry with backoff.
	CodeCrowded = -32007
	// CodeNameTaken (since version 8) refuses a runner's hello whose name belongs
	// to another identity: revoke that identity first to give the name away.
	CodeNameTaken = -32008
	// CodeRevoked (since version 8) refuses a runner's identity that was revoked
	// or that the dispatcher does not know (or whose secret is wrong).
	CodeRevoked = -32009
	// CodeOverQuota (since version 8) refuses a commit.submit (or a job.retry)
	// while the client's credential has --max-queued-per-client jobs waiting in
	// the queue. Nothing was queued: offer it again later, with backoff.
	CodeOverQuota = -32010
	// CodeTLSRequired (since version 10) refuses a plaintext client of a
	// dispatcher that requires TLS, before its hello is read (the error's id is
	// null): reconnect over TLS, pinning the dispatcher's certificate
	// (--tls-fingerprint) or trusting its CA (--tls-ca).
	CodeTLSRequired = -32011
)
