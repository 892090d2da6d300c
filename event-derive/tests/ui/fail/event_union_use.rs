// A union is rejected at `union`; using it as an event elsewhere says it is not one
// (no stub impl that would drag in serde errors).
use event_core::Event;

#[derive(Event)]
pub union Bits {
    pub int: u32,
    pub float: f32,
}

fn needs_event<E: Event>() {}

fn main() {
    needs_event::<Bits>();
}
