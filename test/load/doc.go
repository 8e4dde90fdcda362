// Package load is the load generator behind `fastdeal load`: the scenarios of
// docs/scenarios.md (concert-spike, coupon-rush at any scale, line-flood; the
// first two also over many drops at once)
// driven over the public REST API by an open-model scheduler, measured into HDR
// histograms from each request's intended start, and audited against the
// server's own record (and MySQL's) after every run.
//
// Run is the library entry point; NewCommand wraps it as a cobra command.
package load
