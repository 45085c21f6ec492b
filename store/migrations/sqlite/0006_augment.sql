-- Augmentation (data-efficient training): each step's augmentation strength
-- and ADA's r_t = E[sign D(x)], charted on the run page. A step from before
-- augmentation trained with none and measured no r_t, which is what 0 says.
ALTER TABLE metrics ADD COLUMN aug_p REAL NOT NULL DEFAULT 0;
ALTER TABLE metrics ADD COLUMN r_t REAL NOT NULL DEFAULT 0;
