package volterra

// settingsRequest is UserSettingsRequest: all five fields are always sent.
type settingsRequest struct {
	EnabledNotifications []string `json:"enabled_notifications"`
	FirstName            string   `json:"first_name"`
	LastName             string   `json:"last_name"`
	Image                string   `json:"image,omitempty"`
	OTPEnabled           bool     `json:"otp_enabled"`
}

type notification struct {
	Code    string `json:"code"`
	Enabled bool   `json:"enabled"`
}

// settingsResponse is the part of UserSettingsResponse the adapter needs.
type settingsResponse struct {
	Image         string         `json:"image"`
	Notifications []notification `json:"notifications"`
	OTPEnabled    bool           `json:"otp_enabled"`
}

type whoami struct {
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
}

type imageRequest struct {
	ContentType string `json:"content_type"`
	Image       string `json:"image"`
}

type errBody struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}
