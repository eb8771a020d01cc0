-- The demo's logical schema `clinical`, as a client of shardgate sees it (and as one unsharded
-- server would hold it). deploy/demo-data.py turns it into each group's physical schema by the
-- rules in shard-rules/clinical.toml:
--   hospitals         broadcast: the same table and rows on g0 and g1
--   patients, trial_enrollment, clinical_data
--                     sharded by hospital_id % 4 into <name>_0 .. <name>_3,
--                     shards 0 and 1 on g0, shards 2 and 3 on g1
--   medication_logs   unsharded: on g0 only, under its own name
-- One statement per CREATE TABLE, each ending with ';' at the end of a line: the generator
-- splits on that.

CREATE TABLE hospitals (
  id INT PRIMARY KEY,
  name VARCHAR(100) NOT NULL,
  city VARCHAR(100)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE patients (
  id BIGINT PRIMARY KEY,
  hospital_id INT NOT NULL,
  name VARCHAR(100) CHARACTER SET utf8mb4 NOT NULL,
  birth_date DATE,
  created_at DATETIME
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE trial_enrollment (
  id BIGINT PRIMARY KEY,
  hospital_id INT NOT NULL,
  patient_id BIGINT NOT NULL,
  trial_code VARCHAR(32) NOT NULL,
  enrolled_at DATETIME
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE clinical_data (
  id BIGINT PRIMARY KEY,
  hospital_id INT NOT NULL,
  patient_id BIGINT NOT NULL,
  measure VARCHAR(64) NOT NULL,
  value DECIMAL(10,3),
  recorded_at DATETIME(3),
  note TEXT CHARACTER SET utf8mb4,
  attachment BLOB
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE medication_logs (
  id BIGINT AUTO_INCREMENT PRIMARY KEY,
  patient_id BIGINT NOT NULL,
  hospital_id INT NOT NULL,
  drug VARCHAR(100) NOT NULL,
  dose_mg DECIMAL(8,2),
  given_at DATETIME
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
