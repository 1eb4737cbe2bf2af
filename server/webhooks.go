package server

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"

	"github.com/switchyard/switchyard"
)

// webhooksHandler serves POST /webhooks/{integrationId}: it reads the raw
// body (signatures cover its bytes) within MaxWebhookBodyBytes, hands it to
// the receiver, and turns the answer into the status providers act on. No
// bearer token: the signature is the credential.
type webhooksHandler struct {
	receiver switchyard.WebhookReceiver
	log      *slog.Logger
}

// retryAfterSeconds is what a provider is asked to wait before sending again
// an event that could not be taken now.
const (
	retryAfterPaused     = "300"
	retryAfterInProgress = "5"
)

func (h *webhooksHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	in := switchyard.InboundWebhook{IntegrationID: r.PathValue("integrationId"), Header: r.Header}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, switchyard.MaxWebhookBodyBytes))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		in.TooLarge = true
	case err != nil:
		writeError(w, http.StatusBadRequest, switchyard.EINVALID, "the request body could not be read")
		return
	default:
		in.Body = body
	}
	receipt, err := h.receiver.ReceiveWebhook(r.Context(), in)
	if err != nil {
		switch switchyard.ErrorCode(err) {
		case switchyard.ENOTFOUND:
			writeError(w, http.StatusNotFound, switchyard.ENOTFOUND, "not found")
		case switchyard.EUNAUTHENTICATED:
			writeError(w, http.StatusUnauthorized, switchyard.EUNAUTHENTICATED, switchyard.ErrorMessage(err))
		case switchyard.EINVALID:
			status := http.StatusBadRequest
			if in.TooLarge {
				status = http.StatusRequestEntityTooLarge
			}
			writeError(w, status, switchyard.EINVALID, switchyard.ErrorMessage(err))
		default:
			writeInternal(w, r, h.log, err)
		}
		return
	}
	status := http.StatusOK
	switch receipt.Outcome {
	case switchyard.WebhookIgnored:
		status = http.StatusAccepted
	case switchyard.WebhookInProgress:
		status = http.StatusConflict
		w.Header().Set("Retry-After", retryAfterInProgress)
	case switchyard.WebhookPaused:
		status = http.StatusServiceUnavailable
		w.Header().Set("Retry-After", retryAfterPaused)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		Outcome    switchyard.WebhookOutcome `json:"outcome"`
		DeliveryID string                    `json:"deliveryId,omitempty"`
		EventID    string                    `json:"eventId,omitempty"`
		Message    string                    `json:"message,omitempty"`
	}{receipt.Outcome, receipt.DeliveryID, receipt.EventID, receipt.Message})
}

// methodNotAllowed answers anything but POST on /webhooks/{integrationId}.
func webhooksMethodNotAllowed(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Allow", http.MethodPost)
	writeError(w, http.StatusMethodNotAllowed, switchyard.EINVALID, "webhooks are POSTed")
}
