//go:build !linux

package dispatcher

import "os"

// syncFiles makes the files durable one fsync each, then their directory.
func syncFiles(dir string, files []string) error {
	for _, name := range append(files, dir) {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		err = f.Sync()
		f.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// background does nothing here: lowering one thread's priority is Linux's.
func background() {}
