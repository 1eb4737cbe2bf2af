package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// A graphql-transport-ws message (https://github.com/enisdenjo/graphql-ws,
// PROTOCOL.md). The generator sends connection_init, subscribe, pong and
// complete, and reads connection_ack, next, error, complete and ping.
type wsFrame struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

func initFrame(token string) []byte {
	b, _ := json.Marshal(wsFrame{Type: "connection_init", Payload: mustJSON(map[string]string{"Authorization": "Bearer " + token})})
	return b
}

func subscribeFrame(id string, op operation) []byte {
	b, _ := json.Marshal(wsFrame{ID: id, Type: "subscribe", Payload: mustJSON(op)})
	return b
}

var pongFrame = []byte(`{"type":"pong"}`)

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func parseWSFrame(data []byte) (wsFrame, error) {
	var f wsFrame
	if err := json.Unmarshal(data, &f); err != nil {
		return f, fmt.Errorf("malformed frame %.200q: %w", data, err)
	}
	if f.Type == "" {
		return f, fmt.Errorf("frame without a type: %.200q", data)
	}
	return f, nil
}

// operation is a GraphQL request body: the subscribe payload over WebSocket,
// the POST body over SSE and for queries and mutations.
type operation struct {
	Query     string         `json:"query"`
	Variables map[string]any `json:"variables,omitempty"`
}

// The fields every subscription asks for. Only the event's own fields and
// the order's state carried in the event are selected, so delivering an
// event costs the server no database read per subscriber; the tag fields
// (order id, status, tracking number) tell the generator which of its
// mutations the event reports.
const orderEventSelection = `cursor type occurredAt order { id status shipment { trackingNumber } }`

func subscriptionOperation(field, orderID, projectID string) operation {
	switch field {
	case "orderUpdated":
		return operation{
			Query:     `subscription Bench($id: ID!) { orderUpdated(id: $id) { ` + orderEventSelection + ` } }`,
			Variables: map[string]any{"id": orderID},
		}
	default:
		op := operation{Query: `subscription Bench($projectId: ID) { orderEvents(projectId: $projectId) { ` + orderEventSelection + ` } }`}
		if projectID != "" {
			op.Variables = map[string]any{"projectId": projectID}
		}
		return op
	}
}

// distinct returns op with a comment naming subscriber i: the same
// operation to run, a different one to the server, which shares each
// event's execution only between subscribers of the same operation.
func (op operation) distinct(i int) operation {
	op.Query += fmt.Sprintf(" # subscriber %d", i)
	return op
}

// orderEvent is the part of an OrderEvent payload the generator reads.
type orderEvent struct {
	Cursor     string    `json:"cursor"`
	Type       string    `json:"type"`
	OccurredAt time.Time `json:"occurredAt"`
	Order      struct {
		ID       string `json:"id"`
		Status   string `json:"status"`
		Shipment *struct {
			TrackingNumber string `json:"trackingNumber"`
		} `json:"shipment"`
	} `json:"order"`
}

// tag names the change an event reports the way the driver named the
// mutation that made it: a shipment's tracking number is unique per
// mutation; a status change is the order id and its new status.
func (e *orderEvent) tag(trigger string) string {
	if trigger == "shipment" {
		if e.Order.Shipment == nil {
			return ""
		}
		return e.Order.Shipment.TrackingNumber
	}
	return e.Order.ID + "/" + e.Order.Status
}

type gqlError struct {
	Message    string         `json:"message"`
	Extensions map[string]any `json:"extensions"`
}

func (e gqlError) String() string {
	if code, ok := e.Extensions["code"]; ok {
		return fmt.Sprintf("%s (%v)", e.Message, code)
	}
	return e.Message
}

type gqlErrors []gqlError

func (es gqlErrors) Error() string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.String()
	}
	return strings.Join(parts, "; ")
}

// parseNext reads a next payload (an execution result) for field.
func parseNext(payload []byte, field string) (*orderEvent, error) {
	var res struct {
		Data   map[string]*orderEvent `json:"data"`
		Errors gqlErrors              `json:"errors"`
	}
	if err := json.Unmarshal(payload, &res); err != nil {
		return nil, fmt.Errorf("malformed result %.200q: %w", payload, err)
	}
	if len(res.Errors) > 0 {
		return nil, res.Errors
	}
	e := res.Data[field]
	if e == nil {
		return nil, fmt.Errorf("result without data.%s: %.200q", field, payload)
	}
	if e.OccurredAt.IsZero() {
		return nil, fmt.Errorf("event without occurredAt: %.200q", payload)
	}
	return e, nil
}

// parseErrorPayload reads an error message's payload: a list of GraphQL
// errors (graphql-transport-ws) or, leniently, one.
func parseErrorPayload(payload []byte) error {
	var es gqlErrors
	if json.Unmarshal(payload, &es) == nil && len(es) > 0 {
		return es
	}
	var one gqlError
	if json.Unmarshal(payload, &one) == nil && one.Message != "" {
		return gqlErrors{one}
	}
	return errors.New(string(payload))
}
