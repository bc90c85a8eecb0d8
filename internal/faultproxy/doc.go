// Package faultproxy is a fault-injecting TCP proxy for the Kafka protocol,
// made to test deterministically what a client does when the answer to a
// request is lost: above all a transaction commit (EndTxn) that the broker
// performed but whose response never reached the client.
//
// # Placing the proxy
//
// A Kafka client dials the bootstrap address and then every broker address
// that metadata advertises, so the proxy works per target address rather than
// as one listener in front of one broker. Give the client the proxy's dialer:
//
//	p := faultproxy.New()
//	defer p.Close()
//	cl, err := kgo.NewClient(
//		kgo.SeedBrokers(brokerAddr),
//		kgo.Dialer(p.DialContext),
//		...
//	)
//
// For each distinct target address, the proxy lazily opens one listener on
// 127.0.0.1:0. DialContext first dials the target itself (so an unreachable
// broker is a real dial error for the client, exactly as without the proxy),
// then dials that listener and pairs the accepted connection with the broker
// connection. Every byte of the client therefore crosses real loopback TCP
// through a relay, and a cut is a real closed TCP connection on both sides.
//
// A client that cannot take a dialer (another process, such as the
// coupa-kafka binary under test) is given a Front address as its bootstrap
// broker instead:
//
//	seed, err := p.Front(brokerAddr)
//
// The relay of a front connection rewrites the broker addresses in Metadata
// and FindCoordinator responses to fronts of their own (opened on demand),
// so that the client never connects around the proxy.
//
// # What the relay understands
//
// Requests are framed as an int32 big-endian size followed by the request
// header: int16 api key, int16 api version, int32 correlation id. Responses
// on one connection come back in request order, so the relay keeps a FIFO of
// the requests in flight and knows which response answers which request;
// pipelined requests are fine. Bodies are streamed, never buffered whole, so
// multi-megabyte Produce requests pass through.
//
// Produce requests with acks=0 have no response: the relay reads just
// enough of their header and body to see acks, forwards them untouched and
// never applies a fault to them.
//
// # Faults
//
// A test arms faults; the first armed fault whose API matches a request
// applies to it, Times times, and then disarms:
//
//	p.Arm(faultproxy.Fault{API: kmsg.EndTxn.Int16(), Action: faultproxy.DropResponse, Times: 2})
//
// [Fault.When] narrows a fault to the requests it accepts, decoded (only a
// commit, only one transactional id); the relay then reads the whole request
// before forwarding it. The actions are documented on [Action]. A cut closes both sockets: the
// client reads EOF, or ECONNRESET with [Fault.Reset], which matters to kgo
// (see Reset). [Proxy.Fired] tells how many times
// faults actually took effect, [Proxy.Pending] how many applications are
// still armed, and [Proxy.Requests] how many requests of an API reached the
// broker, so a test can prove that its fault fired and the request was (or
// was not) seen by the broker.
//
// # Limits
//
// The relay does not speak TLS (it would see ciphertext) nor the legacy
// unframed SASL v0 exchange; kgo uses framed SaslAuthenticate. A fault
// consumed by a request whose connection dies before the fault took effect
// (for example, the client closed it) is used up without firing: compare
// Fired with the expected count rather than assuming.
package faultproxy
