// Package audit keeps the durable trail of every identity change: who
// (client and how it authenticated), what (canonical fields; secrets never,
// e-mail and name values only as configured), where (targets, vendor ids,
// each target's outcome), with the idempotency key, trace_id and time.
//
// Order of events for one write (the design the HTTP layer follows):
//
//  1. Before any vendor call, Trail.Ready checks the sinks. A sink that is
//     down fails the request fast with 503 audit_unavailable and nothing is
//     written (unless on_error is proceed, counted in a metric), so there is
//     never a write the trail could not have recorded.
//  2. After the vendor writes, Trail.Record appends the outcome record. If
//     that append fails (the sink died mid-request), the response still
//     reports the outcome — the vendors were written and the caller must
//     know — and the record goes to a bounded in-memory buffer retried by
//     a background flusher (and before every later Ready). Failures and
//     drops from a full buffer are logged and counted.
//
// Other features (identity links, migrations, SCIM) call the Recorder
// interface the same way.
package audit
