package httpapi

import "net/http"

// Endpoint is a protocol operation: a route and a method it serves. Its
// String is the metrics label, one of a small fixed set such as
// "storage.collection.get", "storage.info.collections" or "user.create".
type Endpoint uint8

// The endpoints of the protocol.
const (
	EndpointUnknown Endpoint = iota
	EndpointHeartbeat
	EndpointInfoCollections
	EndpointInfoCollectionCounts
	EndpointInfoCollectionUsage
	EndpointInfoQuota
	EndpointStorageDelete
	EndpointStoragePut
	EndpointCollectionGet
	EndpointCollectionDelete
	EndpointCollectionPost // POST and PUT are the same batch upload
	EndpointItemGet
	EndpointItemDelete
	EndpointItemPut
	EndpointUserExists
	EndpointUserCreate
	EndpointUserDelete
	EndpointUserNode
	EndpointUserPassword
	EndpointPasswordReset
	EndpointPasswordResetDelete
	EndpointUserEmail
	EndpointCaptcha
	endpointCount
)

var endpointLabels = [endpointCount]string{
	EndpointUnknown:              "unknown",
	EndpointHeartbeat:            "heartbeat",
	EndpointInfoCollections:      "storage.info.collections",
	EndpointInfoCollectionCounts: "storage.info.collection_counts",
	EndpointInfoCollectionUsage:  "storage.info.collection_usage",
	EndpointInfoQuota:            "storage.info.quota",
	EndpointStorageDelete:        "storage.all.delete",
	EndpointStoragePut:           "storage.all.put",
	EndpointCollectionGet:        "storage.collection.get",
	EndpointCollectionDelete:     "storage.collection.delete",
	EndpointCollectionPost:       "storage.collection.post",
	EndpointItemGet:              "storage.item.get",
	EndpointItemDelete:           "storage.item.delete",
	EndpointItemPut:              "storage.item.put",
	EndpointUserExists:           "user.exists",
	EndpointUserCreate:           "user.create",
	EndpointUserDelete:           "user.delete",
	EndpointUserNode:             "user.node",
	EndpointUserPassword:         "user.password",
	EndpointPasswordReset:        "user.password_reset",
	EndpointPasswordResetDelete:  "user.password_reset.delete",
	EndpointUserEmail:            "user.email",
	EndpointCaptcha:              "misc.captcha",
}

// String returns the endpoint's metrics label.
func (e Endpoint) String() string {
	if e >= endpointCount {
		return endpointLabels[EndpointUnknown]
	}
	return endpointLabels[e]
}

// endpointOf names an allowed (route, method) pair.
func endpointOf(rt *route, method string) Endpoint {
	switch rt.kind {
	case routeHeartbeat:
		return EndpointHeartbeat
	case routeInfo:
		switch rt.info {
		case infoCollections:
			return EndpointInfoCollections
		case infoCounts:
			return EndpointInfoCollectionCounts
		case infoUsage:
			return EndpointInfoCollectionUsage
		default:
			return EndpointInfoQuota
		}
	case routeStorage:
		if method == http.MethodDelete {
			return EndpointStorageDelete
		}
		return EndpointStoragePut
	case routeCollection:
		switch method {
		case http.MethodGet:
			return EndpointCollectionGet
		case http.MethodDelete:
			return EndpointCollectionDelete
		default:
			return EndpointCollectionPost
		}
	case routeItem:
		switch method {
		case http.MethodGet:
			return EndpointItemGet
		case http.MethodDelete:
			return EndpointItemDelete
		default:
			return EndpointItemPut
		}
	case routeUser:
		switch method {
		case http.MethodGet:
			return EndpointUserExists
		case http.MethodPut:
			return EndpointUserCreate
		default:
			return EndpointUserDelete
		}
	case routeUserNode:
		return EndpointUserNode
	case routeUserPassword:
		return EndpointUserPassword
	case routeUserReset:
		if method == http.MethodDelete {
			return EndpointPasswordResetDelete
		}
		return EndpointPasswordReset
	case routeUserEmail:
		return EndpointUserEmail
	case routeCaptcha:
		return EndpointCaptcha
	}
	return EndpointUnknown
}
