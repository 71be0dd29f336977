//! (cases land with their fixes)
