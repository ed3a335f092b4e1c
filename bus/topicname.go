package bus

import "fmt"

// ValidateTopic checks that name can be a topic.
func ValidateTopic(name string) error {
	if name == "" {
		return fmt.Errorf("%w: topic is empty", ErrInvalidTopic)
	}
	return nil
}
