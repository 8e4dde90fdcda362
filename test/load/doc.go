// Package load is the load generator behind `fastdeal load`: the scenarios of
// shared/SCENARIOS.md (concert-spike, coupon-rush, line-flood) driven over the
// REST API of shared/API.md by an open-model scheduler, measured into HDR
// histograms from each request's intended start, and audited against the
// server's own record (and MySQL's) after every run.
//
// Run is the library entry point; NewCommand wraps it as a cobra command.
package load
