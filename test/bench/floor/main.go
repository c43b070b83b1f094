// Command floor is the smallest Go Lambda function, built like the approver:
// the floor its cold start and size are measured against (make bench).
package main

import (
	"context"
	"encoding/json"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(context.Context, json.RawMessage) (string, error) { return "ok", nil })
}
