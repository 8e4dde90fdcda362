package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
)

// ticketed is a buyer in line and the ticket their join answered.
type ticketed struct {
	user, ticket string
}

// joinAll joins buyers prefix1..prefixN to the line at url (POST
// .../v1/drops/ID/line) over a few keep-alive connections and returns them
// in order with their tickets. Sixteen joins at a time stay far under any
// per-buyer rate limit: each buyer joins once.
func joinAll(ctx context.Context, url, prefix string, n int) ([]ticketed, error) {
	out := make([]ticketed, n)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	const workers = 16
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				user := prefix + strconv.Itoa(i+1)
				tk, err := join(ctx, client, url, user)
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
				out[i] = ticketed{user: user, ticket: tk}
			}
		})
	}
	wg.Wait()
	return out, firstErr
}

func join(ctx context.Context, client *http.Client, url, user string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("X-User-ID", user)
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("join %s: %s: %s", user, resp.Status, body)
	}
	var ans struct {
		Status string `json:"status"`
		Ticket string `json:"ticket"`
	}
	if err := json.Unmarshal(body, &ans); err != nil {
		return "", fmt.Errorf("join %s: %w", user, err)
	}
	if ans.Ticket == "" {
		return "", fmt.Errorf("join %s: answer %q has no ticket (is the drop queued and open?)", user, body)
	}
	return ans.Ticket, nil
}
