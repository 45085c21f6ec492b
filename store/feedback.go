package store

import (
	"context"
	"fmt"
	"time"
)

// FeedbackStatus is what a run's training has made of its ratings, as of
// the worker's latest read. The zero value (Since -1 once read) means no
// rating has reached training yet.
type FeedbackStatus struct {
	Liked    int       `json:"liked"`    // liked samples in the latest feedback batch
	Disliked int       `json:"disliked"` // disliked ones
	Skipped  int       `json:"skipped"`  // rated samples whose image could not be read
	Since    int       `json:"since"`    // step at which ratings first reached training; -1 never
	ReadStep int       `json:"read_step"`
	ReadAt   time.Time `json:"read_at"`
	Version  int64     `json:"version"` // the latest rating id read
	// Model says a rating model was fitted (enough likes and dislikes),
	// with its accuracy on the ratings it learnt from.
	Model         bool    `json:"model"`
	ModelAccuracy float64 `json:"model_accuracy"`
	// Weight is the feedback weight in force: the run's, halved by each
	// collapse repair made while feedback was on.
	Weight float64 `json:"weight"`
}

// Used is how many ratings the latest feedback batch holds.
func (f FeedbackStatus) Used() int { return f.Liked + f.Disliked }

// RatingsVersion is the id of a run's latest rating (0: none): it changes
// whenever any of the run's samples is rated, so a worker can skip reading
// ratings that have not changed.
func (s *Store) RatingsVersion(ctx context.Context, runID int64) (int64, error) {
	var v int64
	err := s.DB.QueryRowContext(ctx, `SELECT COALESCE(MAX(r.id), 0) FROM ratings r JOIN samples s ON s.id = r.sample_id
		WHERE s.run_id = $1`, runID).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("ratings of run %d: %w", runID, err)
	}
	return v, nil
}

// RatedSamples returns a run's samples whose latest rating is a like or a
// dislike, in the order of those ratings (the latest last). A sample rated
// many times counts once, as its latest rating says; one cleared (rated 0)
// is not returned.
func (s *Store) RatedSamples(ctx context.Context, runID int64) ([]*Sample, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT `+sampleCols+` FROM samples WHERE run_id = $1 AND rating != 0
		ORDER BY (SELECT MAX(r.id) FROM ratings r WHERE r.sample_id = samples.id), id`, runID)
	if err != nil {
		return nil, fmt.Errorf("rated samples of run %d: %w", runID, err)
	}
	defer rows.Close()
	var out []*Sample
	for rows.Next() {
		sm, err := scanSample(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, sm)
	}
	return out, rows.Err()
}

// SaveFeedback records what training made of a run's ratings.
func (s *Store) SaveFeedback(ctx context.Context, runID int64, f FeedbackStatus) error {
	if err := s.saveRunJSON(ctx, runID, "feedback", f); err != nil {
		return fmt.Errorf("feedback status of run %d: %w", runID, err)
	}
	return nil
}
