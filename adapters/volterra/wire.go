package volterra

// The Volterra JSON shapes the adapter sends and reads, from
// vendors/specs/volterra-user-setting.ves-swagger.json and
// volterra-user.ves-swagger.json. Field names are the proto names
// (snake_case), as F5's own Go client marshals them.

// settingsRequest is UserSettingsRequest (PUT user/settings). PUT replaces
// all five fields (section 6), so none of them is omitempty: every write
// carries the whole merged state. image is the exception: an empty string
// and an absent member mean the same to proto3 (no avatar), and omitting it
// keeps a user without an avatar from sending "image":"".
type settingsRequest struct {
	EnabledNotifications []string `json:"enabled_notifications"`
	FirstName            string   `json:"first_name"`
	LastName             string   `json:"last_name"`
	Image                string   `json:"image,omitempty"`
	OTPEnabled           bool     `json:"otp_enabled"`
}

// notification is one entry of UserSettingsResponse.notifications.
type notification struct {
	Code    string `json:"code"`
	Enabled bool   `json:"enabled"`
}

// settingsResponse is the part of UserSettingsResponse (GET user/settings)
// the merge needs. Proto3 JSON may omit zero values, which decode to the
// same zero values here.
type settingsResponse struct {
	Image         string         `json:"image"`
	Notifications []notification `json:"notifications"`
	OTPEnabled    bool           `json:"otp_enabled"`
}

// whoamiResponse is the part of GetUserRoleResponse (GET
// /api/web/custom/namespaces/system/whoami) the adapter needs.
type whoamiResponse struct {
	Email     string `json:"email"`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
	UserUUID  string `json:"user_uuid"`
	Type      string `json:"type"`
}

// imageRequest is UpdateImageRequest (PUT user/settings/image).
type imageRequest struct {
	ContentType string `json:"content_type"`
	Image       string `json:"image"`
}

// errorBody is the grpc-gateway error object real deployments are believed
// to send (section 5, GUESS); the spec itself declares a bare JSON string.
type errorBody struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}
