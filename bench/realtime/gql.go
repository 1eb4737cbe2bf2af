package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// api sends queries and mutations to /graphql over plain HTTP POST.
type api struct {
	url    string
	client *http.Client
}

func newAPI(baseURL string) *api {
	tr := &http.Transport{DialContext: localDial, MaxIdleConnsPerHost: 8, IdleConnTimeout: time.Minute}
	return &api{url: baseURL + "/graphql", client: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// do runs op as token's user and decodes data into out.
func (a *api) do(ctx context.Context, token string, op operation, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.url, bytes.NewReader(mustJSON(op)))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return err
	}
	var res struct {
		Data   json.RawMessage `json:"data"`
		Errors gqlErrors       `json:"errors"`
	}
	if err := json.Unmarshal(body, &res); err != nil {
		return fmt.Errorf("%s: %.300s", resp.Status, body)
	}
	if len(res.Errors) > 0 {
		return res.Errors
	}
	if out != nil {
		return json.Unmarshal(res.Data, out)
	}
	return nil
}

// orderRef is an order the driver may change.
type orderRef struct {
	ID        string
	ProjectID string
}

// findOrders returns up to limit orders token's user may change, in one of
// statuses, after the page cursor after ("" for the first page).
func (a *api) findOrders(ctx context.Context, token string, statuses []string, first int, after string) ([]orderRef, string, bool, error) {
	vars := map[string]any{"first": first, "filter": map[string]any{"status": statuses}}
	if after != "" {
		vars["after"] = after
	}
	var data struct {
		Orders struct {
			Edges []struct {
				Node struct {
					ID      string `json:"id"`
					Project *struct {
						ID string `json:"id"`
					} `json:"project"`
				} `json:"node"`
			} `json:"edges"`
			PageInfo struct {
				HasNextPage bool   `json:"hasNextPage"`
				EndCursor   string `json:"endCursor"`
			} `json:"pageInfo"`
		} `json:"orders"`
	}
	err := a.do(ctx, token, operation{
		Query:     `query BenchOrders($filter: OrderFilter, $first: Int, $after: String) { orders(filter: $filter, first: $first, after: $after) { edges { node { id project { id } } } pageInfo { hasNextPage endCursor } } }`,
		Variables: vars,
	}, &data)
	if err != nil {
		return nil, "", false, fmt.Errorf("list orders: %w", err)
	}
	var refs []orderRef
	for _, e := range data.Orders.Edges {
		r := orderRef{ID: e.Node.ID}
		if e.Node.Project != nil {
			r.ProjectID = e.Node.Project.ID
		}
		refs = append(refs, r)
	}
	return refs, data.Orders.PageInfo.EndCursor, data.Orders.PageInfo.HasNextPage, nil
}

func (a *api) setShipment(ctx context.Context, token, orderID, tracking string) error {
	return a.do(ctx, token, operation{
		Query:     `mutation BenchShipment($id: ID!, $tracking: String!) { setOrderShipment(id: $id, input: {carrier: "Bench Express", trackingNumber: $tracking}) { id } }`,
		Variables: map[string]any{"id": orderID, "tracking": tracking},
	}, nil)
}

func (a *api) updateStatus(ctx context.Context, token, orderID, status string) error {
	return a.do(ctx, token, operation{
		Query:     `mutation BenchStatus($id: ID!, $status: OrderStatus!) { updateOrderStatus(id: $id, status: $status) { id } }`,
		Variables: map[string]any{"id": orderID, "status": status},
	}, nil)
}
