-- The three MediaWiki file tables and `comment` (their deletion reasons and descriptions),
-- MySQL/MariaDB flavour of MediaWiki core's sql/tables.json
-- (as generated into sql/mysql/tables-generated.sql). Binary charset like Wikimedia's
-- production tables: every VARBINARY/BINARY/BLOB column compares byte by byte.
-- Statements are separated by ';' at the end of a line; no ';' inside a statement.

CREATE TABLE IF NOT EXISTS filearchive (
  fa_id INT UNSIGNED AUTO_INCREMENT NOT NULL,
  fa_name VARBINARY(255) DEFAULT '' NOT NULL,
  fa_archive_name VARBINARY(255) DEFAULT '',
  fa_storage_group VARBINARY(16) DEFAULT NULL,
  fa_storage_key VARBINARY(64) DEFAULT '',
  fa_deleted_user INT DEFAULT NULL,
  fa_deleted_timestamp BINARY(14) DEFAULT NULL,
  fa_deleted_reason_id BIGINT UNSIGNED NOT NULL,
  fa_size BIGINT UNSIGNED DEFAULT 0,
  fa_width INT DEFAULT 0,
  fa_height INT DEFAULT 0,
  fa_metadata MEDIUMBLOB DEFAULT NULL,
  fa_bits INT DEFAULT 0,
  fa_media_type ENUM('UNKNOWN', 'BITMAP', 'DRAWING', 'AUDIO', 'VIDEO', 'MULTIMEDIA', 'OFFICE',
    'TEXT', 'EXECUTABLE', 'ARCHIVE', '3D') DEFAULT NULL,
  fa_major_mime ENUM('unknown', 'application', 'audio', 'image', 'text', 'video', 'message',
    'model', 'multipart', 'chemical') DEFAULT 'unknown',
  fa_minor_mime VARBINARY(100) DEFAULT 'unknown',
  fa_description_id BIGINT UNSIGNED NOT NULL,
  fa_actor BIGINT UNSIGNED NOT NULL,
  fa_timestamp BINARY(14) DEFAULT NULL,
  fa_deleted TINYINT UNSIGNED DEFAULT 0 NOT NULL,
  fa_sha1 VARBINARY(32) DEFAULT '' NOT NULL,
  INDEX fa_name (fa_name, fa_timestamp),
  INDEX fa_storage_group (fa_storage_group, fa_storage_key),
  INDEX fa_deleted_timestamp (fa_deleted_timestamp),
  INDEX fa_actor_timestamp (fa_actor, fa_timestamp),
  INDEX fa_sha1 (fa_sha1(10)),
  PRIMARY KEY (fa_id)
) ENGINE=InnoDB DEFAULT CHARSET=binary;

CREATE TABLE IF NOT EXISTS image (
  img_name VARBINARY(255) DEFAULT '' NOT NULL,
  img_size BIGINT UNSIGNED DEFAULT 0 NOT NULL,
  img_width INT DEFAULT 0 NOT NULL,
  img_height INT DEFAULT 0 NOT NULL,
  img_metadata MEDIUMBLOB NOT NULL,
  img_bits INT DEFAULT 0 NOT NULL,
  img_media_type ENUM('UNKNOWN', 'BITMAP', 'DRAWING', 'AUDIO', 'VIDEO', 'MULTIMEDIA', 'OFFICE',
    'TEXT', 'EXECUTABLE', 'ARCHIVE', '3D') DEFAULT NULL,
  img_major_mime ENUM('unknown', 'application', 'audio', 'image', 'text', 'video', 'message',
    'model', 'multipart', 'chemical') DEFAULT 'unknown' NOT NULL,
  img_minor_mime VARBINARY(100) DEFAULT 'unknown' NOT NULL,
  img_description_id BIGINT UNSIGNED NOT NULL,
  img_actor BIGINT UNSIGNED NOT NULL,
  img_timestamp BINARY(14) NOT NULL,
  img_sha1 VARBINARY(32) DEFAULT '' NOT NULL,
  INDEX img_actor_timestamp (img_actor, img_timestamp),
  INDEX img_size (img_size),
  INDEX img_timestamp (img_timestamp),
  INDEX img_sha1 (img_sha1(10)),
  INDEX img_media_mime (img_media_type, img_major_mime, img_minor_mime),
  PRIMARY KEY (img_name)
) ENGINE=InnoDB DEFAULT CHARSET=binary;

CREATE TABLE IF NOT EXISTS oldimage (
  oi_name VARBINARY(255) DEFAULT '' NOT NULL,
  oi_archive_name VARBINARY(255) DEFAULT '' NOT NULL,
  oi_size BIGINT UNSIGNED DEFAULT 0 NOT NULL,
  oi_width INT DEFAULT 0 NOT NULL,
  oi_height INT DEFAULT 0 NOT NULL,
  oi_bits INT DEFAULT 0 NOT NULL,
  oi_description_id BIGINT UNSIGNED NOT NULL,
  oi_actor BIGINT UNSIGNED NOT NULL,
  oi_timestamp BINARY(14) NOT NULL,
  oi_metadata MEDIUMBLOB NOT NULL,
  oi_media_type ENUM('UNKNOWN', 'BITMAP', 'DRAWING', 'AUDIO', 'VIDEO', 'MULTIMEDIA', 'OFFICE',
    'TEXT', 'EXECUTABLE', 'ARCHIVE', '3D') DEFAULT NULL,
  oi_major_mime ENUM('unknown', 'application', 'audio', 'image', 'text', 'video', 'message',
    'model', 'multipart', 'chemical') DEFAULT 'unknown' NOT NULL,
  oi_minor_mime VARBINARY(100) DEFAULT 'unknown' NOT NULL,
  oi_deleted TINYINT UNSIGNED DEFAULT 0 NOT NULL,
  oi_sha1 VARBINARY(32) DEFAULT '' NOT NULL,
  INDEX oi_actor_timestamp (oi_actor, oi_timestamp),
  INDEX oi_name_timestamp (oi_name, oi_timestamp),
  INDEX oi_name_archive_name (oi_name, oi_archive_name(14)),
  INDEX oi_sha1 (oi_sha1(10)),
  INDEX oi_timestamp (oi_timestamp)
) ENGINE=InnoDB DEFAULT CHARSET=binary;

-- fa_deleted_reason_id, fa_description_id (and img_/oi_description_id) point at comment_id;
-- production stores each distinct text once, so many rows share one comment.
CREATE TABLE IF NOT EXISTS comment (
  comment_id BIGINT UNSIGNED AUTO_INCREMENT NOT NULL,
  comment_hash INT NOT NULL,
  comment_text BLOB NOT NULL,
  comment_data BLOB DEFAULT NULL,
  INDEX comment_hash (comment_hash),
  PRIMARY KEY (comment_id)
) ENGINE=InnoDB DEFAULT CHARSET=binary;

-- MediaWiki's file schema migration ($wgFileSchemaMigrationStage): image -> file, oldimage ->
-- filerevision, media types in filetypes. The seed writes the same live files and old versions
-- here as in image and oldimage (catalog.tables: file reads them).
CREATE TABLE IF NOT EXISTS filetypes (
  ft_id SMALLINT UNSIGNED AUTO_INCREMENT NOT NULL,
  ft_media_type VARBINARY(255) NOT NULL,
  ft_major_mime VARBINARY(255) NOT NULL,
  ft_minor_mime VARBINARY(255) NOT NULL,
  UNIQUE INDEX ft_media_mime (ft_media_type, ft_major_mime, ft_minor_mime),
  PRIMARY KEY (ft_id)
) ENGINE=InnoDB DEFAULT CHARSET=binary;

CREATE TABLE IF NOT EXISTS file (
  file_id BIGINT UNSIGNED AUTO_INCREMENT NOT NULL,
  file_name VARBINARY(255) NOT NULL,
  file_latest BIGINT UNSIGNED NOT NULL,
  file_type SMALLINT UNSIGNED NOT NULL,
  file_deleted SMALLINT UNSIGNED DEFAULT 0 NOT NULL,
  UNIQUE INDEX file_name (file_name),
  INDEX file_latest (file_latest),
  PRIMARY KEY (file_id)
) ENGINE=InnoDB DEFAULT CHARSET=binary;

CREATE TABLE IF NOT EXISTS filerevision (
  fr_id BIGINT UNSIGNED AUTO_INCREMENT NOT NULL,
  fr_file BIGINT NOT NULL,
  fr_size BIGINT UNSIGNED DEFAULT 0 NOT NULL,
  fr_width INT DEFAULT 0 NOT NULL,
  fr_height INT DEFAULT 0 NOT NULL,
  fr_metadata MEDIUMBLOB NOT NULL,
  fr_bits INT DEFAULT 0 NOT NULL,
  fr_description_id BIGINT UNSIGNED NOT NULL,
  fr_actor BIGINT UNSIGNED NOT NULL,
  fr_timestamp BINARY(14) NOT NULL,
  fr_sha1 VARBINARY(32) DEFAULT '' NOT NULL,
  fr_archive_name VARBINARY(255) DEFAULT '' NOT NULL,
  fr_deleted SMALLINT UNSIGNED DEFAULT 0 NOT NULL,
  INDEX fr_actor_timestamp (fr_actor, fr_timestamp),
  INDEX fr_sha1 (fr_sha1(10)),
  INDEX fr_timestamp (fr_timestamp),
  INDEX fr_file (fr_file),
  PRIMARY KEY (fr_id)
) ENGINE=InnoDB DEFAULT CHARSET=binary;
