package load

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// minShuffleSample is the fewest issued pre-queue users the shuffle check
// judges: below it, 4/sqrt(n) exceeds 1 and no correlation could fail.
const minShuffleSample = 20

// issueOrder is the server's issuances in the order they were issued:
// by issued_at, ties kept in the order the server listed them.
func issueOrder(list []apiIssuance) []apiIssuance {
	out := append([]apiIssuance(nil), list...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].IssuedAt.Before(out[j].IssuedAt) })
	return out
}

// issueOrder is the order the line checks judge: MySQL's durable record when
// the audit reads it, else the server's admin list.
func (in auditInput) issueOrder() []apiIssuance {
	if in.useMySQL {
		return issueOrder(in.mysql)
	}
	return issueOrder(in.server)
}

// userIndex maps a user id back to its index without a map of a million
// entries: ids are made by userID, and the result is checked against ids.
func userIndex(ids []string, id string) (int, bool) {
	// The number follows the last 'u': "u0000001", or "d07-u0000001" in a
	// multi-drop run.
	at := strings.LastIndexByte(id, 'u')
	if at < 0 || at == len(id)-1 {
		return 0, false
	}
	n, err := strconv.Atoi(id[at+1:])
	if err != nil || n < 1 || n > len(ids) || ids[n-1] != id {
		return 0, false
	}
	return n - 1, true
}

func isPre(j joinRec) bool { return j.ok && j.status == lsPreQueue }

// laterArrivals keeps the joins of users who were not placed in the pre-queue,
// for the FIFO check that applies after opening.
func laterArrivals(joins []joinRec) []joinRec {
	out := make([]joinRec, len(joins))
	for u, j := range joins {
		if !isPre(j) {
			out[u] = j
		}
	}
	return out
}

// prequeueAhead checks that every pre-queue user was placed ahead of every later
// arrival: in the issue order, no later arrival comes before a pre-queue user
// still unserved. When the pre-queue outnumbers the stock, every issued user is
// a pre-queue user; otherwise the pre-queue users are a prefix of the order.
// It also returns the number of violations.
func prequeueAhead(joins []joinRec, ids []string, order []apiIssuance) (Check, int) {
	nPre := 0
	for _, j := range joins {
		if isPre(j) {
			nPre++
		}
	}
	preIssued, laterIssued, violations := 0, 0, 0
	firstLater, first := -1, ""
	for i, is := range order {
		u, ok := userIndex(ids, is.UserID)
		if ok && isPre(joins[u]) {
			preIssued++
			if firstLater >= 0 {
				violations++
				if first == "" {
					first = fmt.Sprintf("pre-queue user %s was issued #%d, after later arrival %s (#%d)",
						is.UserID, i+1, order[firstLater].UserID, firstLater+1)
				}
			}
			continue
		}
		laterIssued++
		if firstLater < 0 {
			firstLater = i
			// Every pre-queue user should have been served before this one.
			if preIssued < nPre {
				violations++
				if first == "" {
					first = fmt.Sprintf("later arrival %s was issued #%d while %d pre-queue users were still unserved",
						is.UserID, i+1, nPre-preIssued)
				}
			}
		}
	}
	return Check{
		Name:   "pre-queue ahead of later arrivals",
		Passed: violations == 0,
		Detail: fmt.Sprintf("%d pre-queue users, %d of them issued; %d later arrivals issued; %d out of place%s",
			nPre, preIssued, laterIssued, violations, prefixed(", first: ", first)),
	}, violations
}

// prequeueShuffled checks that the pre-queue's issue order is unrelated to its
// arrival order: Spearman's rank correlation between the two, over the issued
// pre-queue users, must lie within 4/sqrt(n) of zero. For a uniform shuffle rho
// has mean 0 and standard deviation 1/sqrt(n-1), so a fair server fails about
// once in 15,000 runs, while FIFO (rho 1) and reversed order (rho -1) fail from
// a few dozen users on. It returns rho when it could be judged.
func prequeueShuffled(joins []joinRec, ids []string, order []apiIssuance) (Check, *float64) {
	const name = "pre-queue shuffled at opening"
	var sent []int64 // arrival time of each issued pre-queue user, in issue order
	var users []int
	for _, is := range order {
		if u, ok := userIndex(ids, is.UserID); ok && isPre(joins[u]) {
			sent = append(sent, joins[u].firstSent)
			users = append(users, u)
		}
	}
	n := len(sent)
	if n < minShuffleSample {
		return Check{Name: name, Passed: true,
			Detail: fmt.Sprintf("only %d pre-queue users issued: too few to judge a shuffle (needs %d)", n, minShuffleSample)}, nil
	}
	rho := spearman(sent, users)
	limit := 4 / math.Sqrt(float64(n))
	verdict := "a shuffle"
	switch {
	case rho >= limit:
		verdict = "close to arrival order, not shuffled"
	case rho <= -limit:
		verdict = "close to reversed arrival order, not shuffled"
	}
	return Check{
		Name:   name,
		Passed: math.Abs(rho) < limit,
		Detail: fmt.Sprintf("Spearman rho between arrival and issue rank over %d issued pre-queue users = %.4f (|rho| must be below 4/sqrt(n) = %.4f): %s",
			n, rho, limit, verdict),
	}, &rho
}

// spearman is the rank correlation between position in the slice (the issue
// rank) and arrival time (ties broken by user index, so ranks are distinct).
func spearman(sent []int64, users []int) float64 {
	n := len(sent)
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool {
		if sent[idx[a]] != sent[idx[b]] {
			return sent[idx[a]] < sent[idx[b]]
		}
		return users[idx[a]] < users[idx[b]]
	})
	var sum float64
	for arrivalRank, issueRank := range idx {
		d := float64(arrivalRank - issueRank)
		sum += d * d
	}
	nf := float64(n)
	return 1 - 6*sum/(nf*(nf*nf-1))
}
