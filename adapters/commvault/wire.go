package commvault

// idName is Commvault's IdName reference; one of the two is set.
type idName struct {
	ID   *int64  `json:"id,omitempty"`
	Name *string `json:"name,omitempty"`
}

// updateUser is UpdateUser; nil members are not sent.
type updateUser struct {
	FullName             *string  `json:"fullName,omitempty"`
	NewName              *string  `json:"newName,omitempty"`
	Email                *string  `json:"email,omitempty"`
	UserGroupOperation   string   `json:"userGroupOperation,omitempty"`
	UserGroups           []idName `json:"userGroups,omitempty"`
	NewPassword          string   `json:"newPassword,omitempty"`
	ValidationPassword   string   `json:"validationPassword,omitempty"`
	Plan                 *idName  `json:"plan,omitempty"`
	Enabled              *bool    `json:"enabled,omitempty"`
	UserPrincipalName    *string  `json:"userPrincipalName,omitempty"`
	AuthenticationMethod *string  `json:"authenticationMethod,omitempty"`
}

// genericResp is GenericResp.
type genericResp struct {
	ErrorMessage string `json:"errorMessage"`
	ErrorCode    *int   `json:"errorCode"`
}

type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
	Timeout  int    `json:"timeout"`
}

type loginResponse struct {
	Token    string `json:"token"`
	UserName string `json:"userName"`
	ErrList  []struct {
		ErrorCode     int    `json:"errorCode"`
		ErrLogMessage string `json:"errLogMessage"`
	} `json:"errList"`
}
