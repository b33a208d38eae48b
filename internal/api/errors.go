package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"picket/internal/store"
)

// GuardDuty's error messages (see the reference's error table).
const (
	msgNotOwned      = "The request is rejected because the input detectorId is not owned by the current account."
	msgDetectorID    = "The request is rejected because the parameter detectorId has an invalid value."
	msgDetectorExist = "The request is rejected because a detector already exists for the current account."
	msgJSON          = "The request is rejected because the JSON could not be processed."
	msgRange         = "The request is rejected because an invalid or out-of-range value is specified as an input parameter."
	msgNoResource    = "The request is rejected since no such resource found."
	msgExists        = "The request is rejected because the resource already exists."
	msgUnsupported   = "The request is rejected because the operation is not supported by this endpoint."
	msgTooLarge      = "The request is rejected because the request body is too large."
	msgToken         = "The request is rejected because the parameter nextToken has an invalid value."
	msgInternal      = "The request failed because of an internal server error."

	// picket's own, in GuardDuty's manner, for the limits on how requests
	// arrive (see Config).
	msgBodyTimeout    = "The request is rejected because the request body did not arrive in time."
	msgHeaderTooLarge = "The request is rejected because the request headers are too large."
	msgTooMany        = "The request is rejected because this client has too many requests being received; retry later."
	msgUnavailable    = "The request could not be served because the service is busy; retry later."
)

// apiError is an error with its GuardDuty shape: HTTP status, the modeled
// error name (x-amzn-ErrorType), the sub-type (__type and type), and the
// message returned. cause is logged and never returned.
type apiError struct {
	status  int
	code    string
	subtype string
	message string
	cause   error
}

func (e *apiError) Error() string {
	if e.cause != nil {
		return e.code + ": " + e.message + ": " + e.cause.Error()
	}
	return e.code + ": " + e.message
}

func (e *apiError) Unwrap() error { return e.cause }

// badRequest is GuardDuty's 400 with sub-type InvalidInputException.
func badRequest(message string, cause error) *apiError {
	return &apiError{status: http.StatusBadRequest, code: "BadRequestException", subtype: "InvalidInputException", message: message, cause: cause}
}

// invalidParam is the 400 for one parameter with a bad value, in
// GuardDuty's words.
func invalidParam(name string, cause error) *apiError {
	return badRequest("The request is rejected because the parameter "+name+" has an invalid value.", cause)
}

// outOfRange is the 400 for a value outside the model's range.
func outOfRange(name string, cause error) *apiError {
	return badRequest(msgRange, fmt.Errorf("%s: %w", name, cause))
}

// accessDenied is the 403 of the operations whose model declares
// AccessDeniedException.
func accessDenied(message string, cause error) *apiError {
	return &apiError{status: http.StatusForbidden, code: "AccessDeniedException", subtype: "AccessDeniedException", message: message, cause: cause}
}

// authError is a 403 of the signature check: the code is what AWS sends
// (InvalidSignatureException, UnrecognizedClientException, ...).
func authError(code, message string) *apiError {
	return &apiError{status: http.StatusForbidden, code: code, subtype: code, message: message}
}

// headerTooLarge is the 431 of a request whose header fields are over
// the limit: BadRequestException, so that SDKs read it as GuardDuty's
// invalid input.
func headerTooLarge(n, limit int) *apiError {
	return &apiError{status: http.StatusRequestHeaderFieldsTooLarge, code: "BadRequestException", subtype: "InvalidInputException",
		message: msgHeaderTooLarge, cause: fmt.Errorf("%d bytes of request line and header fields, over the limit of %d", n, limit)}
}

// tooManyRequests is the 429 of a client over its cap of requests being
// read and verified. The SDKs treat the code as throttling and retry
// after a backoff.
func tooManyRequests(cause error) *apiError {
	return &apiError{status: http.StatusTooManyRequests, code: "TooManyRequestsException", subtype: "TooManyRequestsException", message: msgTooMany, cause: cause}
}

// unavailable is the 503 of a request that waited too long for a slot;
// the SDKs retry a 503 after a backoff.
func unavailable(cause error) *apiError {
	return &apiError{status: http.StatusServiceUnavailable, code: "ServiceUnavailableException", subtype: "ServiceUnavailableException", message: msgUnavailable, cause: cause}
}

// errorBody is the body of every error: GuardDuty's message and type
// members plus the __type that SDKs fall back on.
type errorBody struct {
	Message string `json:"message"`
	Type    string `json:"__type"`
	SubType string `json:"type"`
}

// shape maps any error an operation returns to its GuardDuty shape. It
// is the one place that decides what a caller sees: validation errors
// carry their shape, store errors map to GuardDuty's 400s, and everything
// else is a 500 whose detail stays in the log.
func shape(err error) *apiError {
	var ae *apiError
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.Is(err, store.ErrNotFound):
		return badRequest(msgNoResource, err)
	case errors.Is(err, store.ErrExists):
		return badRequest(msgExists, err)
	case errors.Is(err, store.ErrCriteria):
		return badRequest(msgJSON, err)
	case errors.Is(err, context.Canceled):
		// The client went away; it will not read the answer.
		return badRequest("The request was canceled.", err)
	}
	return &apiError{status: http.StatusInternalServerError, code: "InternalServerErrorException",
		subtype: "InternalServerErrorException", message: msgInternal, cause: err}
}

// respondError writes err in its GuardDuty shape, logs it, and returns
// the status written.
func (h *Handler) respondError(w http.ResponseWriter, rq *request, op string, err error) int {
	e := shape(err)
	h.logError(rq, op, e)
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("X-Amzn-Errortype", e.code)
	if e.status == http.StatusTooManyRequests || e.status == http.StatusServiceUnavailable {
		hdr.Set("Retry-After", "1")
	}
	w.WriteHeader(e.status)
	b, _ := json.Marshal(errorBody{Message: e.message, Type: e.subtype, SubType: e.subtype})
	_, _ = w.Write(b)
	return e.status
}

// logError logs an error answer. Server errors are logged every time,
// at ERROR. Rejections (4xx) and the 503s of an overloaded service go
// through the handler's rejectLog: the first of an operation and code in
// an interval is logged at INFO with the count of those left out since
// the previous line; the ones left out are logged at DEBUG only.
func (h *Handler) logError(rq *request, op string, e *apiError) {
	attrs := []slog.Attr{
		slog.String("request_id", rq.id), slog.String("operation", op),
		slog.Int("status", e.status), slog.String("code", e.code),
		slog.String("message", e.message), slog.Any("cause", e.cause),
	}
	if e.status >= 500 && e.status != http.StatusServiceUnavailable {
		h.log.LogAttrs(rq.ctx, slog.LevelError, "api error", attrs...)
		return
	}
	suppressed, ok := h.rejects.admit(rejectKey{op: op, code: e.code}, h.now())
	if !ok {
		h.log.LogAttrs(rq.ctx, slog.LevelDebug, "api error", attrs...)
		return
	}
	attrs = append(attrs, slog.Int("suppressed", suppressed), slog.Duration("interval", h.rejects.every))
	h.log.LogAttrs(rq.ctx, slog.LevelInfo, "api error", attrs...)
}

// respond writes a successful answer: the JSON of out, or nothing for
// 204. It returns the status written, which is 500 if out cannot be
// encoded.
func (h *Handler) respond(w http.ResponseWriter, rq *request, op string, status int, out any) int {
	if status == http.StatusNoContent {
		w.WriteHeader(status)
		return status
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if out == nil {
		out = struct{}{}
	}
	if err := enc.Encode(out); err != nil {
		return h.respondError(w, rq, op, fmt.Errorf("encoding the %s response: %w", op, err))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
	return status
}
