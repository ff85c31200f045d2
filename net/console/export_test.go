package console

// SpeakVersion makes c offer protocol version v in its next hello, as a
// console of that version would.
func SpeakVersion(c *Client, v int) { c.hello = v }
