//! Emergency shutoffs, pinnable releases and required signoffs.

use super::*;

/// An emergency shutoff.
#[derive(Debug, Clone, Serialize)]
pub struct Shutoff {
    /// Product name.
    pub product: String,
    /// Channel.
    pub channel: String,
    /// Free-text comment.
    pub comment: Option<String>,
    /// Row version (starts at 1, +1 per change).
    pub data_version: i64,
}

/// A pinnable release.
#[derive(Debug, Clone, Serialize)]
pub struct Pin {
    /// Product name.
    pub product: String,
    /// Channel.
    pub channel: String,
    /// Version string.
    pub version: String,
    /// Release name.
    pub mapping: String,
    /// Row version (starts at 1, +1 per change).
    pub data_version: i64,
}

/// A required-signoff row.
#[derive(Debug, Clone, Serialize)]
pub struct RequiredSignoff {
    /// Product name.
    pub product: String,
    /// Channel.
    pub channel: String,
    /// Role name.
    pub role: String,
    /// Distinct signoffs needed from the role.
    pub signoffs_required: i64,
    /// Row version (starts at 1, +1 per change).
    pub data_version: i64,
}

fn shutoff(r: &Row) -> Result<Shutoff> {
    Ok(Shutoff {
        product: r.get(0)?,
        channel: r.get(1)?,
        comment: r.get(2)?,
        data_version: r.get(3)?,
    })
}

fn pin(r: &Row) -> Result<Pin> {
    Ok(Pin {
        product: r.get(0)?,
        channel: r.get(1)?,
        version: r.get(2)?,
        mapping: r.get(3)?,
        data_version: r.get(4)?,
    })
}

fn required_signoff(r: &Row) -> Result<RequiredSignoff> {
    Ok(RequiredSignoff {
        product: r.get(0)?,
        channel: r.get(1)?,
        role: r.get(2)?,
        signoffs_required: r.get(3)?,
        data_version: r.get(4)?,
    })
}

impl Tx<'_> {
    /// All emergency shutoffs.
    pub fn shutoffs(&self) -> Result<Vec<Shutoff>> {
        self.collect(
            "SELECT product, channel, comment, data_version FROM emergency_shutoffs ORDER BY product, channel",
            args![],
            shutoff,
        )
    }

    /// One emergency shutoff.
    pub fn shutoff(&self, product: &str, channel: &str) -> Result<Option<Shutoff>> {
        self.query_opt(
            "SELECT product, channel, comment, data_version FROM emergency_shutoffs WHERE product = ?1 AND channel = ?2",
            args![product, channel],
        )?
        .as_ref()
        .map(shutoff)
        .transpose()
    }

    /// Inserts an emergency shutoff.
    pub fn insert_shutoff(&self, s: &Shutoff) -> Result<()> {
        self.execute(
            "INSERT INTO emergency_shutoffs (product, channel, comment, data_version) VALUES (?1, ?2, ?3, ?4)",
            args![&s.product, &s.channel, &s.comment, s.data_version],
        )?;
        Ok(())
    }

    /// Deletes an emergency shutoff.
    pub fn delete_shutoff(&self, product: &str, channel: &str) -> Result<()> {
        self.execute(
            "DELETE FROM emergency_shutoffs WHERE product = ?1 AND channel = ?2",
            args![product, channel],
        )?;
        Ok(())
    }

    /// All pinnable releases.
    pub fn pins(&self) -> Result<Vec<Pin>> {
        self.collect(
            "SELECT product, channel, version, mapping, data_version FROM pinnable_releases ORDER BY product, channel, version",
            args![],
            pin,
        )
    }

    /// One pinnable release.
    pub fn pin(&self, product: &str, channel: &str, version: &str) -> Result<Option<Pin>> {
        self.query_opt(
            "SELECT product, channel, version, mapping, data_version FROM pinnable_releases
             WHERE product = ?1 AND channel = ?2 AND version = ?3",
            args![product, channel, version],
        )?
        .as_ref()
        .map(pin)
        .transpose()
    }

    /// Inserts or replaces a pinnable release.
    pub fn put_pin(&self, p: &Pin) -> Result<()> {
        self.execute(
            "INSERT INTO pinnable_releases (product, channel, version, mapping, data_version) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(product, channel, version) DO UPDATE SET mapping = ?4, data_version = ?5",
            args![&p.product, &p.channel, &p.version, &p.mapping, p.data_version],
        )?;
        Ok(())
    }

    /// Deletes a pinnable release.
    pub fn delete_pin(&self, product: &str, channel: &str, version: &str) -> Result<()> {
        self.execute(
            "DELETE FROM pinnable_releases WHERE product = ?1 AND channel = ?2 AND version = ?3",
            args![product, channel, version],
        )?;
        Ok(())
    }

    /// Is `name` the mapping of any pinnable release?
    pub fn release_is_pinnable(&self, name: &str) -> Result<bool> {
        self.query_one(
            "SELECT EXISTS(SELECT 1 FROM pinnable_releases WHERE mapping = ?1)",
            args![name],
        )?
        .get(0)
    }

    /// All required signoffs.
    pub fn required_signoffs(&self) -> Result<Vec<RequiredSignoff>> {
        self.collect(
            "SELECT product, channel, role, signoffs_required, data_version FROM required_signoffs
             ORDER BY product, channel, role",
            args![],
            required_signoff,
        )
    }

    /// Inserts or replaces a required signoff.
    pub fn put_required_signoff(&self, r: &RequiredSignoff) -> Result<()> {
        self.execute(
            "INSERT INTO required_signoffs (product, channel, role, signoffs_required, data_version)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(product, channel, role) DO UPDATE SET signoffs_required = ?4, data_version = ?5",
            args![&r.product, &r.channel, &r.role, r.signoffs_required, r.data_version],
        )?;
        Ok(())
    }

    /// Deletes a required signoff; returns whether it existed.
    pub fn delete_required_signoff(
        &self,
        product: &str,
        channel: &str,
        role: &str,
    ) -> Result<bool> {
        let n = self.execute(
            "DELETE FROM required_signoffs WHERE product = ?1 AND channel = ?2 AND role = ?3",
            args![product, channel, role],
        )?;
        Ok(n > 0)
    }
}
