package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/coupa-kafka/coupa-kafka/coupa"
	"github.com/coupa-kafka/coupa-kafka/instances"
)

// validateSharedCoupa checks the Coupa settings every instance shares.
func (f *Flags) validateSharedCoupa() []error {
	var errs []error
	if f.DeleteSweep < 0 {
		errs = append(errs, fmt.Errorf("COUPA_DELETE_SWEEP_INTERVAL %v is negative (0 turns sweeps off)", f.DeleteSweep))
	}
	if f.Lookback < 0 {
		errs = append(errs, errors.New("COUPA_LOOKBACK must not be negative"))
	}
	_, rerrs := f.redaction()
	errs = append(errs, rerrs...)
	if f.Parallelism < 1 || f.Parallelism > 64 {
		errs = append(errs, fmt.Errorf("COUPA_PARALLELISM %d is outside [1, 64]", f.Parallelism))
	}
	return errs
}

// validateInstances checks COUPA_CONFIG: the file itself, each instance's
// tables, and that the single-instance variables are not set beside it (one
// source of truth for where the instances are).
func (f *Flags) validateInstances() []error {
	var errs []error
	if f.InstanceURL != "" || f.ClientID != "" || f.ClientSecret != "" {
		errs = append(errs, errors.New("COUPA_CONFIG lists the instances: leave COUPA_INSTANCE_URL, COUPA_CLIENT_ID and COUPA_CLIENT_SECRET unset"))
	}
	list, err := f.instances()
	if err != nil {
		return append(errs, err)
	}
	for _, in := range list {
		one := f.forInstance(in)
		if _, err := one.tables(); err != nil {
			errs = append(errs, fmt.Errorf("COUPA_CONFIG instance %q: %w", in.Name, err))
		}
	}
	return errs
}

// instances are the Coupa instances to sync: COUPA_CONFIG's, or the one the
// single-instance variables name (called by its host).
func (f *Flags) instances() ([]instances.Instance, error) {
	if f.Config == "" {
		u, err := coupa.ParseInstanceURL(f.InstanceURL)
		if err != nil {
			return nil, err
		}
		return []instances.Instance{{Name: u.Hostname(), URL: f.InstanceURL, ClientID: f.ClientID, ClientSecret: f.ClientSecret,
			Tables: f.Tables, TopicPrefix: f.TopicPrefix, RateLimit: f.RateLimit}}, nil
	}
	return instances.Load(f.Config, os.LookupEnv, instances.Defaults{Tables: f.Tables, TopicPrefix: f.TopicPrefix, RateLimit: f.RateLimit})
}

// forInstance is f for one instance: its URL, client, tables, prefix and
// budget in the single-instance fields, so that everything built from Flags
// (the client, the startup checks, the producer) serves that instance.
func (f *Flags) forInstance(in instances.Instance) Flags {
	one := *f
	one.Config = ""
	one.InstanceURL, one.ClientID, one.ClientSecret = in.URL, in.ClientID, in.ClientSecret
	one.Tables, one.TopicPrefix, one.RateLimit = in.Tables, in.TopicPrefix, in.RateLimit
	return one
}
