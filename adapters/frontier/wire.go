package frontier

// user is Frontier's User message in REST (snake_case) form.
type user struct {
	ID       string         `json:"id"`
	Name     string         `json:"name"`
	Title    string         `json:"title"`
	Email    string         `json:"email"`
	Metadata map[string]any `json:"metadata"`
	State    string         `json:"state"`
	Avatar   string         `json:"avatar"`
}

type userEnvelope struct {
	User *user `json:"user"`
}

// requestBody is UserRequestBody: the PUT body itself.
type requestBody struct {
	Name     string         `json:"name"`
	Email    string         `json:"email"`
	Title    string         `json:"title"`
	Avatar   string         `json:"avatar"`
	Metadata map[string]any `json:"metadata"`
}

// status is the grpc-gateway error body.
type status struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}
